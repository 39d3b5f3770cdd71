// Svelte compiler options shared by vite-plugin-svelte and svelte-check. Runes only, across the renderer.
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

export default {
  preprocess: vitePreprocess(),
  compilerOptions: { runes: true },
};
