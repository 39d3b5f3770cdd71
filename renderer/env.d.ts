// Svelte's ambient types (runes, `*.svelte` modules) for tsc; svelte-check brings them by itself.
/// <reference types="svelte" />
/// <reference types="vite/client" />
