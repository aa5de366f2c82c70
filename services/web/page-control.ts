// What the app page's controls share (control-routes.ts, app-actions.ts,
// notifications.ts): the page's renderer as a type, and the run of one
// control's POST: the right checked first, then the change, then a redirect
// to the outcome or the page again with the error. Kept apart from
// app-page.ts, which shows the controls' forms, so no import goes in a circle.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isBerthError } from '../core/errors.ts';
import type { Safe } from '../core/html.ts';
import type { App } from '../core/store/index.ts';
import { errorNotice } from './app-controls.ts';

/**
 * Answers with the app page of an app the actor may see, `notice` at its top:
 * the GET below, and a control's POST that met an error (control-routes.ts),
 * which shows the page again with the error where the outcome goes.
 */
export type RenderAppPage = (
  req: FastifyRequest,
  reply: FastifyReply,
  found: App,
  notice: Safe,
) => Promise<FastifyReply>;

export type FormRequest = FastifyRequest<{ Params: { app: string }; Body: unknown }>;

/**
 * Runs a control's change once the actor may make it (authorize: the app, or
 * the 404/403 of authorizeApp): redirects to the app page's outcome (the
 * query `change` returns) when it worked; shows the app page with the error
 * when it was refused for what was asked (4xx). Anything else is the error page.
 */
export async function attemptControl(
  render: RenderAppPage,
  req: FastifyRequest,
  reply: FastifyReply,
  tried: string,
  authorize: () => Promise<App>,
  change: (found: App) => Promise<string>,
) {
  const found = await authorize();
  let query: string;
  try {
    query = await change(found);
  } catch (e) {
    if (!isBerthError(e) || e.httpStatus >= 500) throw e;
    req.log.info({ app: found.name, tried, code: e.code }, 'page control refused');
    return render(req, reply.code(e.httpStatus), found, errorNotice(tried, e));
  }
  return reply.redirect(query.startsWith('/') ? query : `/apps/${found.name}${query}`, 303);
}
