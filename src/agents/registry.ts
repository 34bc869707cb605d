import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Agent } from './agent.js';
import { echoAgent } from './echo.js';
import { FlowError, loadFlowFile } from './dialogue/load-flow.js';
import { ScriptedDialogueAgent } from './dialogue/scripted-dialogue.js';

/** Flows shipped with Harken (the repository's flows/ directory). */
export const BUILTIN_FLOWS_DIR = fileURLToPath(new URL('../../flows/', import.meta.url));

const FLOW_FILE = /\.(ya?ml|json)$/;

export class AgentRegistry {
  private readonly agents = new Map<string, Agent>();

  constructor(readonly defaultAgent: string) {}

  register(agent: Agent): void {
    this.agents.set(agent.name, agent);
  }

  get(name: string): Agent | undefined {
    return this.agents.get(name);
  }

  names(): string[] {
    return [...this.agents.keys()].sort();
  }

  list(): Agent[] {
    return this.names().map((name) => this.agents.get(name) as Agent);
  }
}

const flowFilesIn = (directory: string): string[] => {
  try {
    return readdirSync(directory).filter((name) => FLOW_FILE.test(name)).sort().map((name) => join(directory, name));
  } catch (error) {
    throw new FlowError(directory, [(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'directory not found' : (error as Error).message]);
  }
};

export interface AgentRegistryOptions {
  readonly defaultAgent: string;
  /** User flows; a flow here with the id of a built-in one replaces it. */
  readonly flowsDir?: string;
  readonly now?: () => Date;
}

/** Loads the built-in agents and every flow file; throws FlowError naming the first bad file. */
export const createAgentRegistry = (options: AgentRegistryOptions): AgentRegistry => {
  const registry = new AgentRegistry(options.defaultAgent);
  registry.register(echoAgent);
  for (const directory of [BUILTIN_FLOWS_DIR, options.flowsDir].filter((dir): dir is string => Boolean(dir))) {
    const seen = new Map<string, string>();
    for (const file of flowFilesIn(directory)) {
      const flow = loadFlowFile(file);
      const previous = seen.get(flow.id);
      if (previous) throw new FlowError(file, [`id "${flow.id}" is already used by ${previous}`]);
      seen.set(flow.id, file);
      registry.register(new ScriptedDialogueAgent(flow, options.now));
    }
  }
  if (!registry.get(options.defaultAgent)) {
    throw new FlowError('agents.default', [`no agent named "${options.defaultAgent}"; known agents: ${registry.names().join(', ')}`]);
  }
  return registry;
};
