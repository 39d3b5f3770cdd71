/**
 * Native dialogs handed to core (`CoreOptions.pickFolder`, `pickFile`), so `dialogs:pickFolder` and
 * `dialogs:pickFile` open the system's pickers in the desktop app while the browser host falls back to its
 * in-page browser.
 */
import type { BaseWindow, Dialog, OpenDialogOptions } from 'electron';

type ShowOpen = Pick<Dialog, 'showOpenDialog'>;

async function showModal(dialog: ShowOpen, getWindow: () => BaseWindow | null, options: OpenDialogOptions): Promise<string | null> {
  const win = getWindow();
  // Modal to the window when there is one, so the picker cannot hide behind it.
  const result = win && !win.isDestroyed() ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options);
  if (result.canceled) return null;
  return result.filePaths[0] ?? null;
}

export function makeFolderPicker(dialog: ShowOpen, getWindow: () => BaseWindow | null): (title?: string) => Promise<string | null> {
  return (title) =>
    showModal(dialog, getWindow, {
      title: title ?? 'Choose a folder',
      properties: ['openDirectory', 'createDirectory', 'dontAddToRecent'],
    });
}

export function makeFilePicker(
  dialog: ShowOpen,
  getWindow: () => BaseWindow | null,
): (files: readonly string[], title?: string) => Promise<string | null> {
  return (files, title) => {
    // Electron's filters take extensions without their dot.
    const extensions = files.map((e) => e.replace(/^\./, ''));
    return showModal(dialog, getWindow, {
      title: title ?? 'Choose a file',
      filters: [{ name: files.join(', '), extensions }],
      properties: ['openFile', 'dontAddToRecent'],
    });
  };
}
