const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_]*)\}/g;

export const placeholdersOf = (template: string): string[] => [...template.matchAll(PLACEHOLDER)].map((match) => match[1] as string);

/** Replaces {name} placeholders; unknown names were rejected when the flow was loaded. */
export const renderTemplate = (template: string, values: (name: string) => string): string =>
  template.replace(PLACEHOLDER, (_match, name: string) => values(name)).replace(/\s+/g, ' ').trim();
