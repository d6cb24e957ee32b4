/**
 * The server's composition root: the services and process pools the routes share, built once per
 * app (never inside a route file) and stopped when the app closes. Routes reach them as
 * `app.services`.
 */
import type { FastifyInstance } from 'fastify';
import { JobsService } from '../jobs/index.ts';
import { EnginePool } from '../serving/index.ts';
import type { ApiContext, Services } from './context.ts';

/** Builds the services for an app and ties their start (resumed validations) and stop to it. */
export function composeServices(app: FastifyInstance, ctx: ApiContext): Services {
  const services: Services = {
    jobs: new JobsService(ctx.store, ctx.settings, (m) => app.log.error(m)),
    engines: new EnginePool(ctx.settings),
  };
  app.addHook('onReady', () => services.jobs.resumeValidations());
  app.addHook('onClose', async () => {
    await services.jobs.drain();
    await services.engines.close();
  });
  return services;
}
