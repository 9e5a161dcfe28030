/** The required fields and enums of the Adaptive Card 1.5 schema (adaptivecards.io/schemas/1.5.0), as a checker for tests. */

const ELEMENTS = new Set([
  'TextBlock', 'RichTextBlock', 'Image', 'Media', 'Container', 'ColumnSet', 'Column', 'FactSet', 'ImageSet', 'ActionSet', 'Table',
  'Input.Text', 'Input.Number', 'Input.Date', 'Input.Time', 'Input.Toggle', 'Input.ChoiceSet',
]);
const ACTIONS = new Set(['Action.Execute', 'Action.Submit', 'Action.OpenUrl', 'Action.ShowCard', 'Action.ToggleVisibility']);
const ENUMS: Record<string, string[]> = {
  size: ['default', 'small', 'medium', 'large', 'extralarge'],
  weight: ['default', 'lighter', 'bolder'],
  color: ['default', 'dark', 'light', 'accent', 'good', 'warning', 'attention'],
  spacing: ['none', 'small', 'default', 'medium', 'large', 'extralarge', 'padding'],
};
const CONTAINER_STYLES = ['default', 'emphasis', 'good', 'attention', 'warning', 'accent'];
const ACTION_STYLES = ['default', 'positive', 'destructive'];

/** Problems of a card against Adaptive Card 1.5 (empty when it conforms). */
export function adaptiveCardProblems(card: any, nested = false): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  const at = (path: string, message: string) => problems.push(`${path}: ${message}`);
  if (!card || typeof card !== 'object') return ['card: not an object'];
  if (card.type !== 'AdaptiveCard') at('type', 'must be "AdaptiveCard"');
  if (!nested) {
    if (card.version !== '1.5') at('version', 'must be "1.5"');
    if (typeof card.$schema !== 'string' || !card.$schema.startsWith('http')) at('$schema', 'must be the schema URL');
  }
  if (card.body !== undefined && !Array.isArray(card.body)) at('body', 'must be an array');

  const checkEnums = (path: string, el: any) => {
    for (const [key, allowed] of Object.entries(ENUMS)) {
      if (el[key] !== undefined && !allowed.includes(String(el[key]).toLowerCase())) at(`${path}.${key}`, `"${el[key]}" is not one of ${allowed.join(', ')}`);
    }
  };

  const element = (path: string, el: any) => {
    if (!el || typeof el.type !== 'string') return at(path, 'element without a type');
    if (!ELEMENTS.has(el.type)) return at(`${path}.type`, `"${el.type}" is not an Adaptive Card 1.5 element`);
    checkEnums(path, el);
    if (el.id !== undefined) {
      if (ids.has(el.id)) at(`${path}.id`, `duplicate id "${el.id}"`);
      ids.add(el.id);
    }
    switch (el.type) {
      case 'TextBlock':
        if (typeof el.text !== 'string') at(`${path}.text`, 'required string');
        break;
      case 'Container':
        if (!Array.isArray(el.items)) at(`${path}.items`, 'required array');
        else el.items.forEach((x: any, i: number) => element(`${path}.items[${i}]`, x));
        if (el.style !== undefined && !CONTAINER_STYLES.includes(el.style)) at(`${path}.style`, `"${el.style}" is not a container style`);
        break;
      case 'FactSet':
        if (!Array.isArray(el.facts)) at(`${path}.facts`, 'required array');
        else el.facts.forEach((f: any, i: number) => {
          if (typeof f?.title !== 'string') at(`${path}.facts[${i}].title`, 'required string');
          if (typeof f?.value !== 'string') at(`${path}.facts[${i}].value`, 'required string');
        });
        break;
      case 'ActionSet':
        if (!Array.isArray(el.actions)) at(`${path}.actions`, 'required array');
        else el.actions.forEach((a: any, i: number) => action(`${path}.actions[${i}]`, a));
        break;
      case 'Input.ChoiceSet':
        if (!Array.isArray(el.choices)) at(`${path}.choices`, 'required array');
        else el.choices.forEach((c: any, i: number) => {
          if (typeof c?.title !== 'string' || typeof c?.value !== 'string') at(`${path}.choices[${i}]`, 'needs string title and value');
        });
        if (el.style !== undefined && !['compact', 'expanded', 'filtered'].includes(el.style)) at(`${path}.style`, `"${el.style}" is not a choice set style`);
        break;
      case 'Input.Text':
        if (el.isMultiline !== undefined && typeof el.isMultiline !== 'boolean') at(`${path}.isMultiline`, 'must be a boolean');
        break;
      case 'Input.Toggle':
        if (typeof el.title !== 'string') at(`${path}.title`, 'required string');
        break;
      default:
        break;
    }
    if (el.type.startsWith('Input.')) {
      if (typeof el.id !== 'string' || !el.id) at(`${path}.id`, 'inputs need an id');
      if (el.isRequired !== undefined && typeof el.isRequired !== 'boolean') at(`${path}.isRequired`, 'must be a boolean');
    }
  };

  const action = (path: string, a: any) => {
    if (!a || typeof a.type !== 'string') return at(path, 'action without a type');
    if (!ACTIONS.has(a.type)) return at(`${path}.type`, `"${a.type}" is not an Adaptive Card 1.5 action`);
    if (a.style !== undefined && !ACTION_STYLES.includes(a.style)) at(`${path}.style`, `"${a.style}" is not an action style`);
    if (a.mode !== undefined && !['primary', 'secondary'].includes(a.mode)) at(`${path}.mode`, `"${a.mode}" is not an action mode`);
    if (a.type === 'Action.OpenUrl' && typeof a.url !== 'string') at(`${path}.url`, 'required string');
    if (a.type === 'Action.Execute' && a.data !== undefined && (typeof a.data !== 'object' || Array.isArray(a.data))) at(`${path}.data`, 'must be an object');
    if (a.type === 'Action.ShowCard') {
      if (!a.card) at(`${path}.card`, 'required');
      else problems.push(...adaptiveCardProblems(a.card, true).map((p) => `${path}.card.${p}`));
    }
  };

  (card.body ?? []).forEach((el: any, i: number) => element(`body[${i}]`, el));
  if (card.actions !== undefined) {
    if (!Array.isArray(card.actions)) at('actions', 'must be an array');
    else card.actions.forEach((a: any, i: number) => action(`actions[${i}]`, a));
  }
  return problems;
}
