/**
 * Block Kit limits as Slack documents them, so the fake refuses what Slack would refuse and a
 * rendering bug in Warden fails a test instead of a production post. Each value names its page.
 */
export const SLACK_LIMITS = {
  // docs.slack.dev/reference/block-kit/blocks: "up to 50 blocks in each message, and 100 blocks in
  // modals or Home tabs"; the block-kit JSON schema for messages has maxItems 50.
  messageBlocks: 50,
  // docs.slack.dev/reference/views/modal-views: "blocks … Max of 100 blocks" (same for Home tabs).
  viewBlocks: 100,
  // Every block page: "block_id … Maximum length for this field is 255 characters."
  blockId: 255,
  // docs.slack.dev/reference/block-kit/blocks/section-block: text max 3000; fields max 10 items of 2000.
  sectionText: 3000,
  sectionFields: 10,
  sectionFieldText: 2000,
  // docs.slack.dev/reference/block-kit/blocks/header-block: plain_text, max 150 characters.
  headerText: 150,
  // docs.slack.dev/reference/block-kit/blocks/context-block: "Maximum number of items is 10."
  contextElements: 10,
  // docs.slack.dev/reference/block-kit/blocks/actions-block: elements max 25 (schema maxItems 25).
  actionsElements: 25,
  // docs.slack.dev/reference/block-kit/blocks/input-block: label and hint max 2000 characters.
  inputLabel: 2000,
  // docs.slack.dev/reference/block-kit/blocks/markdown-block: cumulative text limit 12,000 characters.
  markdownText: 12_000,
  // docs.slack.dev/reference/block-kit/block-elements/button-element: text 75, value 2000, url 3000.
  buttonText: 75,
  buttonValue: 2000,
  buttonUrl: 3000,
  // Every interactive element page: "action_id … Maximum length for this field is 255 characters."
  actionId: 255,
  // docs.slack.dev/reference/block-kit/block-elements/select-menu-element (static): "Maximum number of
  // options is 100"; placeholder max 150 characters.
  selectOptions: 100,
  placeholder: 150,
  // docs.slack.dev/reference/block-kit/composition-objects/option-object: text max 75 characters.
  optionText: 75,
  // docs.slack.dev/reference/views/modal-views: title, submit and close max 24 characters;
  // private_metadata max 3000; callback_id max 255.
  modalTitle: 24,
  modalButton: 24,
  privateMetadata: 3000,
  callbackId: 255,
  // api.slack.com/changelog/2018-04-truncating-really-long-messages: message `text` above 40,000
  // characters is truncated and answered with the `message_truncated` warning.
  messageText: 40_000,
} as const;

export interface BlockProblem {
  pointer: string;
  message: string;
}

type Json = Record<string, unknown>;

const BLOCK_TYPES = new Set([
  'actions',
  'context',
  'context_actions',
  'divider',
  'file',
  'header',
  'image',
  'input',
  'markdown',
  'rich_text',
  'section',
  'table',
  'video',
]);

/** Slack counts characters, not UTF-16 units. */
function length(text: string): number {
  return [...text].length;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function tooLong(pointer: string, max: number): BlockProblem {
  return { pointer, message: `must be less than ${max + 1} characters` };
}

function checkString(problems: BlockProblem[], value: unknown, pointer: string, max: number): void {
  if (value === undefined) return;
  if (typeof value !== 'string') problems.push({ pointer, message: 'must be a string' });
  else if (length(value) > max) problems.push(tooLong(pointer, max));
}

function checkText(
  problems: BlockProblem[],
  value: unknown,
  pointer: string,
  max: number,
  plainOnly = false,
): void {
  if (value === undefined) return;
  if (!isObject(value) || typeof value.text !== 'string') {
    problems.push({ pointer, message: 'must be a text object with a string text' });
    return;
  }
  const allowed = plainOnly ? ['plain_text'] : ['plain_text', 'mrkdwn'];
  if (!allowed.includes(String(value.type))) {
    problems.push({ pointer: `${pointer}/type`, message: `must be one of ${allowed.join(', ')}` });
  }
  if (length(value.text) > max) problems.push(tooLong(`${pointer}/text`, max));
}

function checkArray(problems: BlockProblem[], value: unknown, pointer: string, max: number): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    problems.push({ pointer, message: 'must be an array' });
    return [];
  }
  if (value.length > max) problems.push({ pointer, message: `no more than ${max} items allowed` });
  return value;
}

function checkOptions(problems: BlockProblem[], options: unknown, pointer: string): void {
  checkArray(problems, options, pointer, SLACK_LIMITS.selectOptions).forEach((option, i) => {
    const at = `${pointer}/${i}`;
    if (!isObject(option)) problems.push({ pointer: at, message: 'must be an option object' });
    else checkText(problems, option.text, `${at}/text`, SLACK_LIMITS.optionText);
  });
}

function checkElement(problems: BlockProblem[], element: unknown, pointer: string): void {
  if (element === undefined) return;
  if (!isObject(element) || typeof element.type !== 'string') {
    problems.push({ pointer, message: 'must be an element with a type' });
    return;
  }
  checkString(problems, element.action_id, `${pointer}/action_id`, SLACK_LIMITS.actionId);
  checkText(problems, element.placeholder, `${pointer}/placeholder`, SLACK_LIMITS.placeholder, true);
  if (element.type === 'button') {
    checkText(problems, element.text, `${pointer}/text`, SLACK_LIMITS.buttonText, true);
    checkString(problems, element.value, `${pointer}/value`, SLACK_LIMITS.buttonValue);
    checkString(problems, element.url, `${pointer}/url`, SLACK_LIMITS.buttonUrl);
  }
  if (element.type === 'static_select' || element.type === 'multi_static_select') {
    checkOptions(problems, element.options, `${pointer}/options`);
    checkArray(
      problems,
      element.option_groups,
      `${pointer}/option_groups`,
      SLACK_LIMITS.selectOptions,
    ).forEach((group, i) => {
      if (isObject(group)) checkOptions(problems, group.options, `${pointer}/option_groups/${i}/options`);
    });
  }
}

function checkBlock(problems: BlockProblem[], block: unknown, pointer: string): void {
  if (!isObject(block) || typeof block.type !== 'string') {
    problems.push({ pointer, message: 'must be a block object with a type' });
    return;
  }
  if (!BLOCK_TYPES.has(block.type)) {
    problems.push({ pointer: `${pointer}/type`, message: `unsupported block type ${block.type}` });
    return;
  }
  checkString(problems, block.block_id, `${pointer}/block_id`, SLACK_LIMITS.blockId);
  switch (block.type) {
    case 'section':
      if (block.text === undefined && block.fields === undefined) {
        problems.push({ pointer, message: 'must provide text or fields' });
      }
      checkText(problems, block.text, `${pointer}/text`, SLACK_LIMITS.sectionText);
      checkArray(problems, block.fields, `${pointer}/fields`, SLACK_LIMITS.sectionFields).forEach(
        (field, i) => {
          checkText(problems, field, `${pointer}/fields/${i}`, SLACK_LIMITS.sectionFieldText);
        },
      );
      checkElement(problems, block.accessory, `${pointer}/accessory`);
      break;
    case 'header':
      if (block.text === undefined) problems.push({ pointer: `${pointer}/text`, message: 'is required' });
      checkText(problems, block.text, `${pointer}/text`, SLACK_LIMITS.headerText, true);
      break;
    case 'context':
      checkArray(problems, block.elements, `${pointer}/elements`, SLACK_LIMITS.contextElements);
      break;
    case 'actions':
      checkArray(problems, block.elements, `${pointer}/elements`, SLACK_LIMITS.actionsElements).forEach(
        (element, i) => {
          checkElement(problems, element, `${pointer}/elements/${i}`);
        },
      );
      break;
    case 'input':
      checkText(problems, block.label, `${pointer}/label`, SLACK_LIMITS.inputLabel, true);
      checkText(problems, block.hint, `${pointer}/hint`, SLACK_LIMITS.inputLabel, true);
      checkElement(problems, block.element, `${pointer}/element`);
      break;
    case 'markdown':
      checkString(problems, block.text, `${pointer}/text`, SLACK_LIMITS.markdownText);
      break;
    default:
      break;
  }
}

/** Problems in a `blocks` array, with JSON pointers like Slack's `[json-pointer:/blocks/0/text/text]`. */
export function validateBlocks(blocks: unknown, maxBlocks: number, pointer = '/blocks'): BlockProblem[] {
  const problems: BlockProblem[] = [];
  checkArray(problems, blocks, pointer, maxBlocks).forEach((block, i) => {
    checkBlock(problems, block, `${pointer}/${i}`);
  });
  return problems;
}

/** Problems in a modal or Home tab view object. */
export function validateView(view: unknown): BlockProblem[] {
  const problems: BlockProblem[] = [];
  if (!isObject(view)) return [{ pointer: '/view', message: 'must be a view object' }];
  if (view.type !== 'modal' && view.type !== 'home') {
    problems.push({ pointer: '/view/type', message: 'must be modal or home' });
  }
  if (view.type === 'modal') {
    if (view.title === undefined) problems.push({ pointer: '/view/title', message: 'is required' });
    checkText(problems, view.title, '/view/title', SLACK_LIMITS.modalTitle, true);
    checkText(problems, view.submit, '/view/submit', SLACK_LIMITS.modalButton, true);
    checkText(problems, view.close, '/view/close', SLACK_LIMITS.modalButton, true);
    const hasInput = Array.isArray(view.blocks) && view.blocks.some((b) => isObject(b) && b.type === 'input');
    // modal-views page: "submit is required when an input block is within the blocks array".
    if (hasInput && view.submit === undefined) {
      problems.push({ pointer: '/view/submit', message: 'is required when the view has input blocks' });
    }
  }
  checkString(problems, view.private_metadata, '/view/private_metadata', SLACK_LIMITS.privateMetadata);
  checkString(problems, view.callback_id, '/view/callback_id', SLACK_LIMITS.callbackId);
  if (view.blocks === undefined) problems.push({ pointer: '/view/blocks', message: 'is required' });
  problems.push(...validateBlocks(view.blocks, SLACK_LIMITS.viewBlocks, '/view/blocks'));
  return problems;
}

/** Slack's wording: "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]". */
export function describeProblems(problems: BlockProblem[]): string[] {
  return problems.map((p) => `${p.message} [json-pointer:${p.pointer}]`);
}
