/**
 * Every route plugin the server registers, in order. One file per resource; to add a resource,
 * write `routes/<resource>.ts` (a Fastify plugin: zod schemas + thin handlers) and append it here.
 */
import type { FastifyPluginAsync } from 'fastify';
import chat from './chat.ts';
import classifiers from './classifiers.ts';
import webConsole from './console.ts';
import exportsRoutes from './exports.ts';
import files from './files.ts';
import jobs from './jobs.ts';
import jobMetrics from './job-metrics.ts';
import meta from './meta.ts';
import models from './models.ts';
import serverMetrics from './server-metrics.ts';

// serverMetrics first: its timing hook and `app.serverMetrics` must exist before the others register.
export const routes: FastifyPluginAsync[] = [serverMetrics, meta, files, jobs, jobMetrics, models, chat, classifiers, exportsRoutes, webConsole];
