// The desktop shell's pure parts: the remembered window state and the application menu.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { writeFileSync } from 'node:fs';
import type { MenuItemConstructorOptions } from 'electron';
import { DEFAULT_STATE, loadWindowState, saveWindowState, stateFile, trackWindowState, visibleOnSome } from '../../electron/main/window-state.ts';
import { aboutText, menuTemplate } from '../../electron/main/menu.ts';
import { menuCommands, type MenuCommand } from '../../shared/domain.ts';
import { tempDir } from '../helpers/tmp.ts';

const display = { x: 0, y: 0, width: 1920, height: 1080 };

test('window state round-trips, and a position on no display is dropped', () => {
  const dir = tempDir();
  assert.deepEqual(loadWindowState(dir, [display]), DEFAULT_STATE, 'no file yet: defaults');
  saveWindowState(dir, { x: 100, y: 80, width: 1200, height: 700, maximized: true });
  assert.deepEqual(loadWindowState(dir, [display]), { x: 100, y: 80, width: 1200, height: 700, maximized: true });
  // The monitor it was on is gone: keep the size, let the OS place it.
  saveWindowState(dir, { x: 3000, y: 80, width: 1200, height: 700, maximized: false });
  assert.deepEqual(loadWindowState(dir, [display]), { width: 1200, height: 700, maximized: false });
  saveWindowState(dir, { x: 10, y: 10, width: 200, height: 100, maximized: false });
  assert.equal(loadWindowState(dir, [display]).width, 900, 'never below the minimum size');
  writeFileSync(stateFile(dir), '{ not json');
  assert.deepEqual(loadWindowState(dir, [display]), DEFAULT_STATE);
  writeFileSync(stateFile(dir), JSON.stringify({ width: 'wide' }));
  assert.deepEqual(loadWindowState(dir, [display]), DEFAULT_STATE);
  assert.equal(visibleOnSome({ x: -1150, y: 0, width: 1200, height: 700 }, [display]), false, 'only 50 px on screen');
});

test('the window state is saved when the window closes', () => {
  const dir = tempDir();
  const win = Object.assign(new EventEmitter(), {
    getNormalBounds: () => ({ x: 5, y: 6, width: 1000, height: 700 }),
    isMaximized: () => false,
  });
  trackWindowState(win, dir);
  win.emit('close');
  assert.deepEqual(loadWindowState(dir, [display]), { x: 5, y: 6, width: 1000, height: 700, maximized: false });
});

function items(template: MenuItemConstructorOptions[]): MenuItemConstructorOptions[] {
  return template.flatMap((m) => [m, ...items(Array.isArray(m.submenu) ? m.submenu : [])]);
}

test('the menu offers every UI command once, with distinct shortcuts, on every platform', () => {
  for (const platform of ['linux', 'win32', 'darwin'] as const) {
    const sent: MenuCommand[] = [];
    let abouts = 0;
    const all = items(menuTemplate({ platform, send: (c) => sent.push(c), about: () => abouts++ }));
    for (const it of all) it.click?.({} as never, undefined, {} as never);
    assert.deepEqual([...sent].sort(), [...menuCommands].sort(), platform);
    assert.equal(abouts, 1, `${platform}: one About item`);
    const keys = all.map((i) => i.accelerator).filter(Boolean);
    assert.equal(new Set(keys).size, keys.length, `${platform}: duplicate accelerator`);
    const labels = all.map((i) => i.label ?? i.role);
    assert.ok(labels.includes('&File') && labels.includes('&Edit') && labels.includes('&View') && labels.includes('&Help'));
  }
});

test('About names the versions and the training backend', () => {
  const text = aboutText({ app: '1.2.3', electron: '45.0.0', chrome: '142', node: '22', v8: '14', backend: 'WebAssembly (XNNPACK)' });
  assert.match(text, /Loupe 1\.2\.3/);
  assert.match(text, /Electron 45\.0\.0/);
  assert.match(text, /Training backend: WebAssembly/);
});

test('a launch names a project by its project.loupe file or its folder; every project has the marker', async () => {
  const { Project, PROJECT_MARKER, projectDirOf } = await import('../../electron/core/project/project.ts');
  const { projectArg } = await import('../../electron/main/args.ts');
  const { join } = await import('node:path');
  const { existsSync } = await import('node:fs');
  const dir = join(tempDir(), 'p');
  Project.create(dir).close();
  const marker = join(dir, PROJECT_MARKER);
  assert.ok(existsSync(marker), 'the marker the OS associates with Loupe');
  assert.equal(projectArg(['/opt/Loupe/loupe', '--no-sandbox', marker]), marker);
  assert.equal(projectArg(['/opt/Loupe/loupe', dir]), dir);
  assert.equal(projectArg(['/opt/Loupe/loupe', '/nowhere/x.loupe']), null);
  assert.equal(projectDirOf(marker), dir);
  assert.equal(projectDirOf(dir), dir);
});
