/**
 * Which of the three workspaces fills the window: the images (labeling), training, or evaluation. Kept in the
 * address's hash (#train, #evaluate), so a reload mid-run comes back to the same workspace.
 */
export type Workspace = 'images' | 'train' | 'evaluate';

export const workspaces: { id: Workspace; label: string }[] = [
  { id: 'images', label: 'Images' },
  { id: 'train', label: 'Train' },
  { id: 'evaluate', label: 'Evaluate' },
];

function fromHash(): Workspace {
  const h = typeof location === 'undefined' ? '' : location.hash.replace(/^#/, '');
  return h === 'train' || h === 'evaluate' ? h : 'images';
}

class WorkspaceState {
  current = $state<Workspace>(fromHash());

  go(w: Workspace): void {
    this.current = w;
    // After the switch has painted: replaceState is a synchronous round trip to the browser process (2–10 ms on
    // a busy machine), which a confusion-matrix click should not wait for.
    setTimeout(() => history.replaceState(history.state, '', location.pathname + location.search + (w === 'images' ? '' : `#${w}`)), 0);
  }
}

export const workspace = new WorkspaceState();
