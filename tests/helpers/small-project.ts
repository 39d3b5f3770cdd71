/** A small trainable project on disk: generated sample images (12 per class), imported with folder labels, split. */
import { join } from 'node:path';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { writeSampleImages } from '../../electron/core/sample/sample-project.ts';
import type { Project } from '../../electron/core/project/project.ts';
import { tempDir } from './tmp.ts';

export async function smallProject(): Promise<{ projectDir: string; imagesDir: string }> {
  const dir = tempDir();
  const imagesDir = join(dir, 'images');
  await writeSampleImages(imagesDir, { perClass: 12, signal: new AbortController().signal, progress: () => {} });
  const core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  const projectDir = join(dir, 'project');
  core.openProject(projectDir, { create: true });
  const { jobId } = await core.dispatch('import:start', { folders: [imagesDir], labels: 'folders' });
  await core.jobs.wait(jobId);
  await core.dispatch('splits:assign', { ratios: [0.6, 0.4, 0], seed: 1 });
  await core.shutdown();
  return { projectDir, imagesDir };
}

/** Generated sample images (`perClass` of each class) imported into a project left open, with folder labels, split. */
export async function openSampleProject(perClass: number, ratios: [number, number, number]): Promise<Project> {
  const dir = tempDir();
  await writeSampleImages(join(dir, 'images'), { perClass, signal: new AbortController().signal, progress: () => {} });
  const core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  const project = core.openProject(join(dir, 'project'), { create: true });
  const { jobId } = await core.dispatch('import:start', { folders: [join(dir, 'images')], labels: 'folders' });
  const job = await core.jobs.wait(jobId);
  if (job.state !== 'succeeded') throw new Error(`the sample import ${job.state}: ${job.message}`);
  await core.dispatch('splits:assign', { ratios, seed: 1 });
  return project;
}
