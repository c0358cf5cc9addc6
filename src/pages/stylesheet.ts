/** The one small stylesheet: readable on a phone, visible focus, no framework. */
export const STYLESHEET = `
:root { color-scheme: light dark; --accent: #2457c5; --danger: #b3261e; --muted: #5f6368; --line: #c8ccd2; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: Canvas; color: CanvasText; }
.brand { padding: 0.75rem 1rem; font-weight: 600; border-bottom: 1px solid var(--line); }
main { max-width: 26rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 1rem; }
p { margin: 0 0 1rem; }
.client-name { font-weight: 600; }
label { display: block; margin: 0.75rem 0 0.25rem; font-weight: 500; }
input[type=text], input[type=password] { width: 100%; padding: 0.6rem; font: inherit; border: 1px solid var(--line); border-radius: 6px; }
button { font: inherit; padding: 0.6rem 1.1rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; margin-top: 1rem; }
button.secondary { background: transparent; color: inherit; border-color: var(--line); }
button:focus-visible, input:focus-visible, a:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.actions { display: flex; gap: 0.75rem; flex-wrap: wrap; }
[role=alert] { border-left: 4px solid var(--danger); padding: 0.5rem 0.75rem; margin: 0 0 1rem; background: color-mix(in srgb, var(--danger) 10%, transparent); }
ul.scopes { padding-left: 1.2rem; }
.muted { color: var(--muted); font-size: 0.9rem; }
code { font-size: 0.9em; }
`;
