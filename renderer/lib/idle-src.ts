/**
 * Sets an image's src now when it is on screen, or when the page is next idle when it is not (a row of cells
 * just below the viewport). Starting an image request costs the page's main thread about a millisecond; six of
 * them in the frame that scrolls one row delayed the reply to the label keystroke that caused the scroll.
 * A Svelte action: `<img use:idleSrc={{ url, now: urgent }} />`.
 */
export interface IdleSrc {
  url: string;
  /** On screen: load at once. */
  now: boolean;
}

/** Longest an off-screen image waits for an idle moment. */
const IDLE_TIMEOUT_MS = 250;

export function idleSrc(node: HTMLImageElement, params: IdleSrc): { update(p: IdleSrc): void; destroy(): void } {
  let handle: number | undefined;
  const cancel = () => {
    if (handle !== undefined) cancelIdleCallback(handle);
    handle = undefined;
  };
  const apply = (p: IdleSrc) => {
    cancel();
    if (node.getAttribute('src') === p.url) return;
    if (p.now) node.src = p.url;
    else {
      handle = requestIdleCallback(
        () => {
          handle = undefined;
          node.src = p.url;
        },
        { timeout: IDLE_TIMEOUT_MS },
      );
    }
  };
  apply(params);
  return { update: apply, destroy: cancel };
}
