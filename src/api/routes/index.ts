/**
 * Every route plugin the server registers, in order. One file per resource; to add a resource,
 * write `routes/<resource>.ts` (a Fastify plugin: zod schemas + thin handlers) and append it here.
 */
import type { FastifyPluginAsync } from 'fastify';
import chat from './chat.ts';
import classifiers from './classifiers.ts';
import exportsRoutes from './exports.ts';
import files from './files.ts';
import jobs from './jobs.ts';
import meta from './meta.ts';
import models from './models.ts';

export const routes: FastifyPluginAsync[] = [meta, files, jobs, models, chat, classifiers, exportsRoutes];
