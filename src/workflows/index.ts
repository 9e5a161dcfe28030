/** Every workflow tread runs, and the organisation file they read. The runtime and the router are built from this list. */
import { loadOrgConfig, parseOrgConfig, type OrgConfig } from '../core/config/org.js';
import type { Workflow } from '../core/workflow.js';
import { accessWorkflow } from './access/index.js';
import { approvalWorkflow } from './approval/index.js';
import { eventWorkflow } from './event/index.js';
import { incidentWorkflow } from './incident/index.js';
import { oncallWorkflow } from './oncall/index.js';
import { problemWorkflow } from './problem/index.js';
import { requestWorkflow } from './request/index.js';

/** The workflows, in help order. */
export const allWorkflows: Workflow[] = [incidentWorkflow, problemWorkflow, requestWorkflow, accessWorkflow, oncallWorkflow, eventWorkflow, approvalWorkflow];

/** Every command of the product with what it is for; those no registered workflow serves answer "not available yet". */
export const plannedCommands: Record<string, string> = {
};

const sections = () => allWorkflows.flatMap((w) => (w.config ? [w.config] : []));

/** Parses organisation YAML with every workflow's sections (`origin` names the file in errors). */
export function parseOrganisation(text: string, origin = 'config', env: NodeJS.ProcessEnv = process.env): OrgConfig {
  return parseOrgConfig(text, origin, env, sections());
}

/** Loads the organisation file (TREAD_CONFIG, else ./tread.yaml, else the bundled example) with every workflow's sections. */
export function loadOrganisation(path: string | undefined, env: NodeJS.ProcessEnv = process.env) {
  return loadOrgConfig(path, env, sections());
}
