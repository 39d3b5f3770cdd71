// Renderer entry: mounts the app. Everything else starts from App.svelte and lib/app-state.svelte.ts.
import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import { listenToMenu } from './lib/menu-commands.ts';

// Marks on the way to the first thumbnails, read by bench/grid.ts to say where the time goes.
performance.mark('loupe:script');
const target = document.getElementById('app');
if (!target) throw new Error('#app is missing from index.html');
listenToMenu();
export default mount(App, { target });
