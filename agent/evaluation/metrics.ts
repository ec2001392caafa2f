/** Accuracy, per-class precision/recall and the confusion matrix (pure). */
export interface EvalSummary {
  n: number;
  accuracy: number;
  per_class: Array<{ label: string; support: number; precision: number; recall: number }>;
  /** confusion[true][predicted] */
  confusion: number[][];
}

export class ConfusionCounter {
  readonly matrix: number[][];
  constructor(readonly labels: readonly string[]) {
    this.matrix = labels.map(() => labels.map(() => 0));
  }

  add(truth: number, predicted: number): void {
    this.matrix[truth]![predicted]!++;
  }

  summary(): EvalSummary {
    const k = this.labels.length;
    let n = 0;
    let correct = 0;
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
      n += this.matrix[i]![j]!;
      if (i === j) correct += this.matrix[i]![j]!;
    }
    const per_class = this.labels.map((label, c) => {
      const support = this.matrix[c]!.reduce((a, b) => a + b, 0);
      const predicted = this.matrix.reduce((a, row) => a + row[c]!, 0);
      const tp = this.matrix[c]![c]!;
      return { label, support, precision: predicted ? tp / predicted : 0, recall: support ? tp / support : 0 };
    });
    return { n, accuracy: n ? correct / n : 0, per_class, confusion: this.matrix.map((r) => [...r]) };
  }
}
