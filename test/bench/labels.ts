/**
 * Label orders of the compared expression models and their mapping onto FER2013's seven classes (pure), so every
 * model is scored against the same ground truth.
 */

/** FER2013's classes in the order of its `emotion` column (0..6). */
export const FER2013_LABELS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const;

/** Output order of @vladmandic/face-api's faceExpressionNet (FACE_EXPRESSION_LABELS in its source). */
export const FACE_API_LABELS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'] as const;

/** Output order of @vladmandic/human's gray 64x64 emotion model (src/gear/emotion.ts, the oarriaga model). */
export const HUMAN_LABELS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const;

const ALIASES: Record<string, (typeof FER2013_LABELS)[number]> = {
  angry: 'angry', anger: 'angry',
  disgust: 'disgust', disgusted: 'disgust',
  fear: 'fear', fearful: 'fear',
  happy: 'happy', happiness: 'happy',
  sad: 'sad', sadness: 'sad',
  surprise: 'surprise', surprised: 'surprise',
  neutral: 'neutral',
};

/** For each output index of a model, the FER2013 class index; throws naming a label that has no FER2013 class. */
export function ferIndexMap(labels: readonly string[]): number[] {
  return labels.map((l) => {
    const fer = ALIASES[l.toLowerCase()];
    if (!fer) throw new Error(`label ${JSON.stringify(l)} has no FER2013 class (${FER2013_LABELS.join(', ')})`);
    return FER2013_LABELS.indexOf(fer);
  });
}

/** The FER2013 class predicted for row `row` of a [n, k] probability matrix whose columns map through `map`. */
export function predictedFerClass(probs: ArrayLike<number>, row: number, map: readonly number[]): number {
  const k = map.length;
  let best = 0;
  for (let i = 1; i < k; i++) if (probs[row * k + i]! > probs[row * k + best]!) best = i;
  return map[best]!;
}
