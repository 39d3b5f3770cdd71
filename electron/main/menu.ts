/**
 * The application menu. Items that act on the UI are sent to the renderer as `menu:command` events (the
 * renderer owns selection, focus and views); the rest are Electron roles. Built as plain data so a test can check
 * every item without Electron.
 */
import type { MenuItemConstructorOptions } from 'electron';
import type { MenuCommand } from '../../shared/domain.ts';

export interface MenuOptions {
  platform: NodeJS.Platform;
  send: (command: MenuCommand) => void;
  about: () => void;
}

export function menuTemplate(o: MenuOptions): MenuItemConstructorOptions[] {
  const cmd = (label: string, command: MenuCommand, accelerator?: string): MenuItemConstructorOptions => ({
    label,
    accelerator,
    click: () => o.send(command),
  });
  const mac = o.platform === 'darwin';
  return [
    ...(mac ? [{ label: 'Loupe', submenu: [{ label: 'About Loupe', click: o.about }, { type: 'separator' }, { role: 'hide' }, { role: 'hideOthers' }, { type: 'separator' }, { role: 'quit' }] } as MenuItemConstructorOptions] : []),
    {
      label: '&File',
      submenu: [
        cmd('New Project…', 'project:new', 'CmdOrCtrl+N'),
        cmd('Open Project…', 'project:open', 'CmdOrCtrl+O'),
        cmd('Close Project', 'project:close', 'CmdOrCtrl+Shift+W'),
        { type: 'separator' },
        cmd('Import Images…', 'import', 'CmdOrCtrl+I'),
        cmd('Export Model…', 'export', 'CmdOrCtrl+E'),
        cmd('PDF Report…', 'report', 'CmdOrCtrl+P'),
        { type: 'separator' },
        mac ? { role: 'close' } : { role: 'quit' },
      ],
    },
    {
      label: '&Edit',
      submenu: [
        // Undo and redo act on labels (or on the text field that has focus): the renderer decides.
        cmd('Undo', 'undo', 'CmdOrCtrl+Z'),
        cmd('Redo', 'redo', mac ? 'Cmd+Shift+Z' : 'Ctrl+Y'),
        { type: 'separator' },
        { role: 'cut' },
        { role: 'copy' },
        { role: 'paste' },
        cmd('Select All', 'select-all', 'CmdOrCtrl+A'),
      ],
    },
    {
      label: '&View',
      submenu: [
        cmd('Images', 'view:images', 'CmdOrCtrl+1'),
        cmd('Train', 'view:train', 'CmdOrCtrl+2'),
        cmd('Evaluate', 'view:evaluate', 'CmdOrCtrl+3'),
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
      ],
    },
    {
      label: '&Help',
      submenu: [cmd('Keyboard Shortcuts', 'help:shortcuts', '?'), ...(mac ? [] : [{ type: 'separator' } as MenuItemConstructorOptions, { label: 'About Loupe', click: o.about }])],
    },
  ];
}

/** The About box's text: versions of everything that matters for support, and the training backend. */
export function aboutText(v: { app: string; electron: string; chrome: string; node: string; v8: string; backend: string | null }): string {
  return [
    `Loupe ${v.app}`,
    `Electron ${v.electron} · Chromium ${v.chrome} · Node ${v.node} · V8 ${v.v8}`,
    `Training backend: ${v.backend ?? 'not checked yet (the Train view or `loupe doctor` checks it)'}`,
    'Works fully offline: Loupe makes no network requests.',
  ].join('\n');
}
