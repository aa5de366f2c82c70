import { runService } from '../core/service.ts';
import { start } from './service.ts';

await runService('control', start);
