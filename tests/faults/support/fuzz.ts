/**
 * Invalid payloads for every contract method, generated from its request schema: each field (and each field
 * of a nested object) replaced by a wrong type, a huge string, deep nesting, NaN, ±Infinity, a negative, a
 * fraction or an enormous number; plus whole payloads that are not objects, carry unknown or prototype keys,
 * or nest 100,000 deep. Payloads the contract would accept are dropped (the oracle is parseRequest itself),
 * so every one left must come back as a validation error from every face.
 */
import { methods, parseRequest, requestSchemas, type Method } from '../../../shared/contract.ts';

export interface Case {
  method: Method;
  label: string;
  payload: unknown;
  /** The payload as JSON text: NaN and Infinity are written as JSON.parse reads them back (or cannot). */
  json: string;
}

const HUGE = 'A'.repeat(2_000_000);
const DEEP = 100_000;
/** Odd values that JSON cannot carry; `json` is what a hostile client would send for them instead. */
const NOT_JSON = new Map<unknown, string>([
  [Number.NaN, 'NaN'],
  [Number.POSITIVE_INFINITY, '1e999'],
  [Number.NEGATIVE_INFINITY, '-1e999'],
]);

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

function badValues(): [string, unknown][] {
  return [
    ['string', 'x'],
    ['number', 42],
    ['boolean', true],
    ['null', null],
    ['array', [1, 'two', null]],
    ['object', { a: 1 }],
    ['deep nesting', nested(500)],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['negative', -1],
    ['fraction', 0.5],
    ['enormous', 1e308],
    ['past 2^53', 2 ** 53 + 2],
    ['below -2^53', -(2 ** 53) - 2],
  ];
}

/** JSON text for a payload, with the values JSON has no words for written as a hostile client would. */
function toJson(payload: unknown): string {
  const marks: string[] = [];
  const text = JSON.stringify(payload, (_k, v: unknown) => {
    if (typeof v === 'number' && NOT_JSON.has(v)) {
      marks.push(NOT_JSON.get(v)!);
      return `\u0000${marks.length - 1}\u0000`;
    }
    return v;
  });
  return (text ?? 'null').replace(/"\\u0000(\d+)\\u0000"/g, (_m, i: string) => marks[Number(i)]!);
}

type AnySchema = { shape?: Record<string, AnySchema>; _zod?: { def?: { innerType?: AnySchema; in?: AnySchema } } };

/** The object schema under optional / nullable / default / pipe wrappers, if there is one. */
function objectShape(schema: AnySchema): Record<string, AnySchema> | null {
  let s: AnySchema | undefined = schema;
  for (let i = 0; s && i < 8; i++) {
    if (s.shape) return s.shape;
    s = s._zod?.def?.innerType ?? s._zod?.def?.in;
  }
  return null;
}

function isValid(method: Method, payload: unknown): boolean {
  try {
    parseRequest(method, payload);
    return true;
  } catch {
    return false;
  }
}

export function invalidCases(): { cases: Case[]; droppedAsValid: number } {
  const cases: Case[] = [];
  let droppedAsValid = 0;
  const add = (method: Method, label: string, payload: unknown, json?: string) => {
    if (isValid(method, payload)) droppedAsValid++;
    else cases.push({ method, label, payload, json: json ?? toJson(payload) });
  };
  for (const method of methods) {
    const shape = objectShape(requestSchemas[method] as AnySchema) ?? {};
    const keys = Object.keys(shape);
    for (const key of keys) {
      for (const [label, value] of badValues()) add(method, `${key}: ${label}`, { [key]: value });
      const inner = objectShape(shape[key]!);
      for (const sub of Object.keys(inner ?? {})) {
        for (const [label, value] of badValues()) add(method, `${key}.${sub}: ${label}`, { [key]: { [sub]: value } });
      }
    }
    add(method, `${keys[0] ?? 'unknown'}: huge string`, { [keys[0] ?? 'unknown']: HUGE });
    add(method, 'unknown field', { __loupe_fuzz: 1 });
    add(method, '__proto__ field', JSON.parse('{"__proto__": {"polluted": true}}'));
    add(method, 'constructor field', { constructor: { prototype: { polluted: true } } });
    for (const [label, value] of [
      ['string payload', 'not an object'],
      ['number payload', 7],
      ['array payload', [{}]],
      ['boolean payload', false],
    ] as [string, unknown][]) {
      add(method, label, value);
    }
    // Too deep for JSON.stringify (and for Electron's structured clone: the IPC face skips what it cannot send).
    add(method, 'payload nested 100,000 deep', nested(DEEP), '['.repeat(DEEP) + '1' + ']'.repeat(DEEP));
  }
  return { cases, droppedAsValid };
}

/**
 * Values only Electron's structured clone carries (JSON has no BigInt, Date, Map or typed array), one of each
 * in every top-level field of every method: for the IPC face.
 */
export function cloneOnlyCases(): Case[] {
  const odd: [string, unknown][] = [
    ['bigint', 10n ** 30n],
    ['date', new Date(0)],
    ['map', new Map([['a', 1]])],
    ['set', new Set([1])],
    ['typed array', new Uint8Array(8)],
    ['sparse array', Object.assign(new Array<unknown>(3), { 2: 1 })],
  ];
  const cases: Case[] = [];
  for (const method of methods) {
    for (const key of Object.keys(objectShape(requestSchemas[method] as AnySchema) ?? {})) {
      for (const [label, value] of odd) {
        const payload = { [key]: value };
        if (!isValid(method, payload)) cases.push({ method, label: `${key}: ${label}`, payload, json: '' });
      }
    }
  }
  return cases;
}

