// http-proxy 1.18.1 under http-proxy-3's import, for the bench's router-1.18
// variant (proxy-variants.ts): forward.ts imports { createProxyServer } from
// 'http-proxy-3', and 1.18.1, a CommonJS module, has it only on its default export.
import httpProxy from 'http-proxy';

export const createProxyServer = httpProxy.createProxyServer;
