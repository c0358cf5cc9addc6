import { AdminArgs, AdminService } from '../admin/admin.service';
import { callAdminSocket } from '../admin/admin-socket';

/** Where the CLI sends an admin operation: to this process's services or to the running server. */
export abstract class AdminGateway {
  abstract run(operation: string, args?: AdminArgs): Promise<unknown>;
}

export class LocalAdminGateway extends AdminGateway {
  constructor(private readonly admin: AdminService) {
    super();
  }

  run(operation: string, args: AdminArgs = {}): Promise<unknown> {
    return this.admin.run(operation, args);
  }
}

export class RemoteAdminGateway extends AdminGateway {
  constructor(private readonly dataDir: string) {
    super();
  }

  run(operation: string, args: AdminArgs = {}): Promise<unknown> {
    return callAdminSocket(this.dataDir, operation, args);
  }
}
