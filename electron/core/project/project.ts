/**
 * A project is a folder: project.db, cache/ (thumbnails by content hash), runs/ (training, later).
 * Images stay where they are; the DB stores each image's path relative to its import root.
 */
import { openFailedForSpace } from './disk-full.ts';
import { mkdirSync, existsSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { LoupeError, type ProjectInfo } from '../../../shared/contract.ts';
import { Checkpointer } from '../db/checkpointer.ts';
import { openDatabase, type Database } from '../db/database.ts';

export const PROJECT_DB = 'project.db';
/** A small file in every project folder that the desktop app is registered for: double-click opens the project. */
export const PROJECT_MARKER = 'project.loupe';

/** The project folder a path names: the folder itself, or the folder of its project.loupe / project.db. */
export function projectDirOf(path: string): string {
  const p = resolve(path);
  return basename(p) === PROJECT_MARKER || basename(p) === PROJECT_DB ? dirname(p) : p;
}

export interface OpenOptions {
  /**
   * Checkpoint the WAL on a worker thread (checkpointer.ts). For the faces that answer a UI (the desktop app, the
   * browser host); a CLI command or the training process lets SQLite do it inline, and starts no thread.
   */
  backgroundCheckpoints?: boolean;
}

export class Project {
  readonly path: string;
  readonly db: Database;
  /** WAL checkpoints off this thread (see checkpointer.ts); null where SQLite's own are enough. */
  readonly checkpointer: Checkpointer | null;

  private constructor(path: string, db: Database, opts: OpenOptions) {
    this.path = path;
    this.db = db;
    this.checkpointer = opts.backgroundCheckpoints ? Checkpointer.start(db, join(path, PROJECT_DB)) : null;
  }

  get cacheDir(): string {
    return join(this.path, 'cache');
  }
  get thumbDir(): string {
    return join(this.path, 'cache', 'thumbs');
  }
  get runsDir(): string {
    return join(this.path, 'runs');
  }

  /** Opens an existing project folder. */
  static open(path: string, opts: OpenOptions = {}): Project {
    const dir = resolve(path);
    if (!existsSync(join(dir, PROJECT_DB))) {
      throw new LoupeError('NOT_FOUND', `Not a Loupe project (no ${PROJECT_DB}): ${dir}`);
    }
    return Project.load(dir, opts);
  }

  /** Creates a project in a new or empty folder (or opens it if it is already a project). */
  static create(path: string, name?: string, opts: OpenOptions = {}): Project {
    const dir = resolve(path);
    if (existsSync(join(dir, PROJECT_DB))) return Project.open(dir, opts);
    if (existsSync(dir)) {
      if (!statSync(dir).isDirectory()) throw new LoupeError('BAD_INPUT', `Not a folder: ${dir}`);
      const visible = readdirSync(dir).filter((n) => !n.startsWith('.'));
      if (visible.length > 0) {
        throw new LoupeError('CONFLICT', `The folder is not empty; choose a new or empty folder for the project: ${dir}`);
      }
    }
    mkdirSync(dir, { recursive: true });
    const project = Project.load(dir, opts);
    const now = new Date().toISOString();
    project.db.prepare(`INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)`).run(now);
    // Only a name the user gave is stored: the folder's name (often a patient's or a study's) is shown in the app
    // but never written into shared artifacts (see sharedName).
    if (name !== undefined) project.db.prepare(`INSERT OR IGNORE INTO meta (key, value) VALUES ('name', ?)`).run(name);
    return project;
  }

  /** Opens a project, creating it when the folder has none (used by `loupe import`). */
  static openOrCreate(path: string): Project {
    const dir = resolve(path);
    return existsSync(join(dir, PROJECT_DB)) ? Project.open(dir) : Project.create(dir);
  }

  private static load(dir: string, opts: OpenOptions = {}): Project {
    mkdirSync(join(dir, 'cache', 'thumbs'), { recursive: true });
    mkdirSync(join(dir, 'runs'), { recursive: true });
    const marker = join(dir, PROJECT_MARKER);
    if (!existsSync(marker)) {
      writeFileSync(marker, JSON.stringify({ format: 'loupe-project', note: 'Open this file with Loupe; the data is in project.db.' }, null, 2) + '\n');
    }
    let db: Database;
    try {
      db = openDatabase(join(dir, PROJECT_DB));
    } catch (e) {
      if (openFailedForSpace(e, dir)) {
        throw new LoupeError('BAD_INPUT', `Cannot open ${join(dir, PROJECT_DB)}: the disk holding the project is full. Free some space and try again; nothing in it was changed.`);
      }
      throw new LoupeError('BAD_INPUT', `Cannot open ${join(dir, PROJECT_DB)}: ${(e as Error).message}`);
    }
    return new Project(dir, db, opts);
  }

  info(): ProjectInfo {
    const rows = this.db.prepare(`SELECT key, value FROM meta`).all() as { key: string; value: string }[];
    const meta = Object.fromEntries(rows.map((r) => [r.key, r.value]));
    return {
      path: this.path,
      name: meta['name'] ?? basename(this.path),
      createdAt: meta['created_at'] ?? '',
      schemaVersion: this.db.pragma('user_version', { simple: true }) as number,
    };
  }

  /**
   * The project's name as shared artifacts (bundles, model cards, reports) carry it: the name the user gave, never
   * the folder's (issue 14). Projects made before this stored the folder's name as theirs; that one is left out too.
   */
  sharedName(): string {
    const name = this.db.prepare(`SELECT value FROM meta WHERE key = 'name'`).pluck().get() as string | undefined;
    return name === undefined || name === basename(this.path) ? 'Untitled project' : name;
  }

  close(): void {
    this.checkpointer?.stop();
    if (this.db.open) this.db.close();
  }
}
