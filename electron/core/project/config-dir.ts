/** Where Loupe keeps per-user settings (the recent-projects list) when no face says otherwise. */
import { homedir } from 'node:os';
import { join } from 'node:path';

export function defaultConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['LOUPE_CONFIG_DIR']) return env['LOUPE_CONFIG_DIR'];
  if (process.platform === 'win32') return join(env['APPDATA'] ?? join(homedir(), 'AppData', 'Roaming'), 'Loupe');
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Loupe');
  return join(env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config'), 'loupe');
}
