import { runService } from '../services/core/service.ts';
import { start } from './service.ts';

await runService('router', start, { outlivesSupervisor: true });
