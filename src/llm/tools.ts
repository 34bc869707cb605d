import type { ChatTool } from './chat-provider.js';

/** What a tool call did, for the model (content) and for the conversation (effects). */
export interface ToolResult {
  /** Fed back to the model as the tool message. */
  readonly content: string;
  /** Ends the conversation with this status after the reply is spoken (end_call, transfer). */
  readonly endConversation?: string;
  /** Merged into the conversation's structured data (e.g. the transfer target). */
  readonly data?: Record<string, unknown>;
}

export interface ToolContext {
  readonly conversationId: string;
  readonly signal: AbortSignal;
}

/**
 * A function the model may call. Register more with `ToolRegistry.register`:
 * `parameters` is a JSON Schema object; `run` gets the parsed arguments.
 */
export interface Tool {
  readonly name: string;
  readonly description: string;
  readonly parameters: Record<string, unknown>;
  run(args: Record<string, unknown>, context: ToolContext): Promise<ToolResult>;
}

export class ToolRegistry {
  private readonly tools = new Map<string, Tool>();

  register(tool: Tool): this {
    if (!/^[a-zA-Z0-9_-]{1,64}$/.test(tool.name)) throw new Error(`tool name "${tool.name}" must be 1–64 letters, digits, _ or -`);
    this.tools.set(tool.name, tool);
    return this;
  }

  get(name: string): Tool | undefined {
    return this.tools.get(name);
  }

  names(): string[] {
    return [...this.tools.keys()];
  }

  /** The tools named, as the chat API declares them; unknown names are an error naming them. */
  declarations(names: readonly string[]): ChatTool[] {
    const unknown = names.filter((name) => !this.tools.has(name));
    if (unknown.length > 0) throw new Error(`unknown tool${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known: ${this.names().join(', ')}`);
    return names.map((name) => {
      const tool = this.tools.get(name) as Tool;
      return { type: 'function', function: { name: tool.name, description: tool.description, parameters: tool.parameters } };
    });
  }
}
