/** Hides user:password in every URL in the text, so descriptions, logs and errors never carry credentials. */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1***@');
}
