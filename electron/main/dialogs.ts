/**
 * Native dialogs handed to core (`CoreOptions.pickFolder`), so `dialogs:pickFolder` opens the system's folder
 * picker in the desktop app while the browser host falls back to its folder browser.
 */
import type { BaseWindow, Dialog, OpenDialogOptions } from 'electron';

export function makeFolderPicker(
  dialog: Pick<Dialog, 'showOpenDialog'>,
  getWindow: () => BaseWindow | null,
): (title?: string) => Promise<string | null> {
  return async (title) => {
    const options: OpenDialogOptions = {
      title: title ?? 'Choose a folder',
      properties: ['openDirectory', 'createDirectory', 'dontAddToRecent'],
    };
    const win = getWindow();
    // Modal to the window when there is one, so the picker cannot hide behind it.
    const result = win && !win.isDestroyed() ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options);
    if (result.canceled) return null;
    return result.filePaths[0] ?? null;
  };
}
