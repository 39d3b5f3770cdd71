/**
 * One way to ask for a folder or a file, whatever the face: the native dialog where `app:info.nativeDialogs` says
 * there is one (Electron), else the in-app browser (the browser host), which App.svelte renders while `request`
 * is set. `pick()` and `pickFile()` resolve with the chosen path, or null when the user cancels.
 */
import { api } from './api.ts';
import { app } from './app-state.svelte.ts';

export interface FolderRequest {
  title: string;
  start: string;
  confirmLabel: string;
  /** A file is asked for, with one of these extensions ('.onnx'); a folder otherwise. */
  files?: readonly string[];
  /** A Loupe model bundle folder may be chosen as the file. */
  bundles?: boolean;
  resolve: (path: string | null) => void;
}

interface PickOptions {
  title: string;
  start?: string;
  confirmLabel?: string;
}

class FolderPicker {
  request = $state<FolderRequest | null>(null);

  async pick(opts: PickOptions): Promise<string | null> {
    if (app.info?.nativeDialogs) {
      const native = await this.native(() => api['dialogs:pickFolder']({ title: opts.title }));
      if (native !== undefined) return native;
    }
    return this.browse({ ...opts, confirmLabel: opts.confirmLabel ?? 'Choose this folder' });
  }

  /** A file with one of `files`' extensions; with `bundles`, a Loupe bundle folder too. */
  async pickFile(opts: PickOptions & { files: readonly string[]; bundles?: boolean }): Promise<string | null> {
    // A native dialog picks files or folders, not both (but on macOS): a bundle needs the in-app browser.
    if (app.info?.nativeDialogs && !opts.bundles) {
      const native = await this.native(() => api['dialogs:pickFile']({ title: opts.title, files: [...opts.files] }));
      if (native !== undefined) return native;
    }
    return this.browse({ ...opts, confirmLabel: opts.confirmLabel ?? 'Choose' });
  }

  /** The native dialog's answer, or undefined when the face has none. */
  private async native(ask: () => Promise<{ supported: boolean; path: string | null }>): Promise<string | null | undefined> {
    try {
      const r = await ask();
      return r.supported ? r.path : undefined;
    } catch (e) {
      app.report(e);
      return null;
    }
  }

  private browse(opts: Omit<FolderRequest, 'resolve' | 'start'> & { start?: string }): Promise<string | null> {
    this.request?.resolve(null);
    return new Promise((resolve) => {
      this.request = {
        ...opts,
        start: opts.start ?? app.info?.homeDir ?? '/',
        resolve: (path) => {
          this.request = null;
          resolve(path);
        },
      };
    });
  }
}

export const folderPicker = new FolderPicker();
