/** Every workflow tread runs. The router and the scheduler are built from this list. */
import type { Workflow } from '../core/workflow.js';
import { incidentWorkflow } from './incident/index.js';
import { oncallWorkflow } from './oncall/index.js';
import { eventWorkflow } from './event/index.js';

/** The workflows, in help order. */
export const allWorkflows: Workflow[] = [incidentWorkflow, oncallWorkflow, eventWorkflow];
