import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Agent } from './agent.js';
import { echoAgent } from './echo.js';
import { FlowError, readAgentDocument, validateFlow } from './dialogue/load-flow.js';
import type { HarkenConfig } from '../config/schema.js';
import type { LlmRuntime } from '../llm/llm-runtime.js';
import { LlmAgent, type LlmAgentDefinition } from './llm/llm-agent.js';
import { assistantDefinition, isLlmAgentDocument, llmDefinitionFromFile } from './llm/llm-definition.js';
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

  /** Every agent's fixed phrases (see Agent.prompts). */
  prompts(): string[] {
    return this.names().flatMap((name) => [...((this.agents.get(name) as Agent).prompts?.() ?? [])]);
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
  /** Present when llm.model is set: enables the `assistant` agent and `type: llm` agent files. */
  readonly llm?: { readonly runtime: LlmRuntime; readonly config: HarkenConfig };
}

const llmAgent = (definition: LlmAgentDefinition, runtime: LlmRuntime, source: string): LlmAgent => {
  try {
    return new LlmAgent(definition, runtime.chat, runtime.tools, runtime.logger);
  } catch (error) {
    throw new FlowError(source, [(error as Error).message]);
  }
};

/** Loads the built-in agents and every flow file; throws FlowError naming the first bad file. */
export const createAgentRegistry = (options: AgentRegistryOptions): AgentRegistry => {
  const registry = new AgentRegistry(options.defaultAgent);
  registry.register(echoAgent);
  if (options.llm) registry.register(llmAgent(assistantDefinition(options.llm.config, options.llm.runtime.primary), options.llm.runtime, 'llm.tools'));
  for (const directory of [BUILTIN_FLOWS_DIR, options.flowsDir].filter((dir): dir is string => Boolean(dir))) {
    const seen = new Map<string, string>();
    for (const file of flowFilesIn(directory)) {
      const document = readAgentDocument(file);
      let agent: Agent;
      if (isLlmAgentDocument(document)) {
        if (!options.llm) throw new FlowError(file, ['an LLM agent needs a chat model: set llm.model (HARKEN_LLM_MODEL) and its server, or llm.localModelPath']);
        agent = llmAgent(llmDefinitionFromFile(document, file, options.llm.config, options.llm.runtime.primary), options.llm.runtime, file);
      } else {
        agent = new ScriptedDialogueAgent(validateFlow(document, file), options.now);
      }
      const previous = seen.get(agent.name);
      if (previous) throw new FlowError(file, [`id "${agent.name}" is already used by ${previous}`]);
      seen.set(agent.name, file);
      registry.register(agent);
    }
  }
  if (!registry.get(options.defaultAgent)) {
    throw new FlowError('agents.default', [`no agent named "${options.defaultAgent}"; known agents: ${registry.names().join(', ')}`]);
  }
  return registry;
};
