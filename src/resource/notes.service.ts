import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { notFound } from '../common/oauth-error';
import { Note } from './note.entity';

export interface NoteView {
  id: string;
  text: string;
  created_at: string;
}

const toView = (note: Note): NoteView => ({ id: note.id, text: note.text, created_at: note.createdAt.toISOString() });

/** Notes owned by a subject (a user, or a client for its own tokens). */
@Injectable()
export class NotesService {
  constructor(@InjectRepository(Note) private readonly notes: Repository<Note>) {}

  async list(owner: string): Promise<NoteView[]> {
    return (await this.notes.find({ where: { owner }, order: { createdAt: 'ASC' }, take: 1000 })).map(toView);
  }

  async create(owner: string, text: string): Promise<NoteView> {
    const note = this.notes.create({ owner, text });
    await this.notes.insert(note);
    return toView(await this.notes.findOneByOrFail({ id: note.id }));
  }

  /** Deletes the owner's note; another owner's note is as absent as a missing one. */
  async delete(owner: string, id: string): Promise<void> {
    const result = await this.notes.delete({ id, owner });
    if (!result.affected) throw notFound(`no note ${id}`);
  }
}
