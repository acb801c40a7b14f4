import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// A running ondol's management API, for `npm run dev`.
const api = process.env.ONDOL_API ?? 'http://127.0.0.1:9001';

export default defineConfig({
  base: '/console/',
  plugins: [preact()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The binary embeds dist/: no source maps, one small bundle.
    sourcemap: false,
    assetsInlineLimit: 0,
  },
  server: {
    proxy: {
      '/ondol': { target: api, changeOrigin: true },
      '/2015-03-31': { target: api, changeOrigin: true },
    },
  },
});
