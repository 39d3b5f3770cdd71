/**
 * The desktop app's menu (electron/main/menu.ts) sends `menu:command` events; this is where the UI acts on them,
 * with the same state the keyboard and buttons use. The browser host never sends them.
 */
import type { MenuCommand } from '../../shared/domain.ts';
import { api, onEvent } from './api.ts';
import { app } from './app-state.svelte.ts';
import { labeling } from './labeling.svelte.ts';
import { isTyping } from './label-keys.ts';
import { workspace } from './workspace.svelte.ts';

/** The run an Export or Report command is about: the one selected in Train, else the newest finished one. */
async function currentRunId(): Promise<number | null> {
  const { training } = await import('./training.svelte.ts');
  if (training.selectedRunId !== null) return training.selectedRunId;
  const runs = await api['runs:list']({});
  return runs.find((r) => r.status === 'finished')?.id ?? null;
}

async function exportDialog(kind: 'model' | 'report'): Promise<void> {
  const runId = await currentRunId();
  if (runId === null) {
    labeling.toast('Train a model first: there is no finished run to export', 'error');
    return;
  }
  // The dialog lives in the Train workspace (loaded on first visit).
  workspace.go('train');
  const { exporter } = await import('./export.svelte.ts');
  exporter.open(kind, runId);
}

/** Text fields keep the platform's own undo/redo and select-all; everything else acts on labels and images. */
function inTextField(): boolean {
  const el = document.activeElement;
  return el instanceof HTMLElement && isTyping(el);
}

export async function runMenuCommand(command: MenuCommand): Promise<void> {
  const project = app.project !== null;
  switch (command) {
    case 'project:new':
    case 'project:open':
    case 'project:close':
      // The start screen creates and opens projects.
      if (project) await app.closeProject();
      return;
    case 'import':
      if (project) app.overlay = 'import';
      return;
    case 'export':
      if (project) await exportDialog('model');
      return;
    case 'report':
      if (project) await exportDialog('report');
      return;
    case 'undo':
    case 'redo':
      if (inTextField()) document.execCommand(command);
      else if (project) labeling[command]();
      return;
    case 'select-all':
      if (inTextField()) document.execCommand('selectAll');
      else if (project) await labeling.selectAll();
      return;
    case 'view:images':
    case 'view:train':
    case 'view:evaluate':
      if (project) workspace.go(command.slice('view:'.length) as 'images' | 'train' | 'evaluate');
      return;
    case 'help:shortcuts':
      labeling.help = true;
      return;
  }
}

export function listenToMenu(): void {
  onEvent((event, payload) => {
    if (event === 'menu:command') void runMenuCommand((payload as { command: MenuCommand }).command);
  });
}
