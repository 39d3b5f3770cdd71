/**
 * The GPU host window's preload (issue 16): hands the page the message port that main sends it, and exposes nothing
 * else. The page (no Node, context-isolated) receives the port as a window message from its own window.
 */
import { ipcRenderer } from 'electron';
import { GPU_HOST_PORT_CHANNEL } from '../../shared/gpu-host-protocol.ts';

ipcRenderer.once(GPU_HOST_PORT_CHANNEL, (event) => {
  // A file:// page's origin is opaque: '*' is the only target that reaches it, and the message never leaves it.
  window.postMessage(GPU_HOST_PORT_CHANNEL, '*', event.ports);
});
