/**
 * One way to ask for a folder, whatever the face: the native dialog where `app:info.nativeDialogs` says there is
 * one (Electron), else the in-app folder browser (the browser host), which App.svelte renders while `request` is
 * set. `pickFolder()` resolves with the chosen path, or null when the user cancels.
 */
import { api } from './api.ts';
import { app } from './app-state.svelte.ts';

export interface FolderRequest {
  title: string;
  start: string;
  confirmLabel: string;
  resolve: (path: string | null) => void;
}

class FolderPicker {
  request = $state<FolderRequest | null>(null);

  async pick(opts: { title: string; start?: string; confirmLabel?: string }): Promise<string | null> {
    if (app.info?.nativeDialogs) {
      try {
        const r = await api['dialogs:pickFolder']({ title: opts.title });
        if (r.supported) return r.path;
      } catch (e) {
        app.report(e);
        return null;
      }
    }
    this.request?.resolve(null);
    return new Promise((resolve) => {
      this.request = {
        title: opts.title,
        start: opts.start ?? app.info?.homeDir ?? '/',
        confirmLabel: opts.confirmLabel ?? 'Choose this folder',
        resolve: (path) => {
          this.request = null;
          resolve(path);
        },
      };
    });
  }
}

export const folderPicker = new FolderPicker();
