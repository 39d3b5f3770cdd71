/** A small trainable project on disk: generated sample images (12 per class), imported with folder labels, split. */
import { join } from 'node:path';
import { LoupeCore } from '../../electron/core/api/loupe-core.ts';
import { writeSampleImages } from '../../electron/core/sample/sample-project.ts';
import type { Project } from '../../electron/core/project/project.ts';
import { tempDir } from './tmp.ts';

/** Generated sample images (`perClass` of each class) imported into a new project with folder labels, then split. */
async function importSample(perClass: number, ratios: [number, number, number]) {
  const dir = tempDir();
  const imagesDir = join(dir, 'images');
  await writeSampleImages(imagesDir, { perClass, signal: new AbortController().signal, progress: () => {} });
  const core = new LoupeCore({ face: 'cli', configDir: join(dir, 'config') });
  const projectDir = join(dir, 'project');
  const project = core.openProject(projectDir, { create: true });
  const { jobId } = await core.dispatch('import:start', { folders: [imagesDir], labels: 'folders' });
  const job = await core.jobs.wait(jobId);
  if (job.state !== 'succeeded') throw new Error(`the sample import ${job.state}: ${job.message}`);
  await core.dispatch('splits:assign', { ratios, seed: 1 });
  return { core, project, projectDir, imagesDir };
}

export async function smallProject(): Promise<{ projectDir: string; imagesDir: string }> {
  const { core, projectDir, imagesDir } = await importSample(12, [0.6, 0.4, 0]);
  await core.shutdown();
  return { projectDir, imagesDir };
}

/** The same with `perClass` images of each class, the project left open. */
export async function openSampleProject(perClass: number, ratios: [number, number, number]): Promise<Project> {
  return (await importSample(perClass, ratios)).project;
}
