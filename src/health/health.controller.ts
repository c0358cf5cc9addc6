import { Controller, Get, Header, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckResult, HealthCheckService, HealthIndicatorResult, TypeOrmHealthIndicator } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';

/** Each component's status only: failure messages (a host and port, say) stay in the logs. */
const statusesOnly = (components: Partial<HealthIndicatorResult> | undefined): HealthIndicatorResult =>
  Object.fromEntries(Object.entries(components ?? {}).flatMap(([name, component]) => (component ? [[name, { status: component.status }]] : [])));

@ApiTags('Operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
  ) {}

  /**
   * Readiness: 200 when PostgreSQL answers; otherwise 503 with Terminus's report naming
   * what is down (`{"status":"error","error":{"database":{"status":"down"}},...}`), not an
   * OAuth error, so that operators and load balancers see which dependency failed.
   */
  @Get()
  @HealthCheck()
  async check(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    try {
      return await this.health.check([() => this.database.pingCheck('database', { timeout: 1500 })]);
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      const report = error.getResponse() as HealthCheckResult;
      void reply.status(503);
      return { status: 'error', info: statusesOnly(report.info), error: statusesOnly(report.error), details: statusesOnly(report.details) };
    }
  }

  /**
   * Liveness: 200 whenever the process serves HTTP, database or not (a restart would not
   * bring PostgreSQL back). Also the benchmark's bare NestJS route in Gatehouse's own process.
   */
  @Get('live')
  @Header('Cache-Control', 'no-store')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }
}
