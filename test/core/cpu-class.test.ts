import test from 'ava';
import { cpuClassFrom } from '../../agent/core/cpu-class.js';

const x86 = (flags: string): string => `processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 ${flags}\n\nprocessor\t: 1\n`;

test('x86 classes by the int8-relevant flags, most capable first', (t) => {
  t.is(cpuClassFrom(x86('sse4_1 avx2 avx512f avx512_vnni avx512_bf16'), 'x64').name, 'x86-avx512-vnni');
  t.is(cpuClassFrom(x86('sse4_1 avx2 avx_vnni'), 'x64').name, 'x86-avx-vnni');
  t.is(cpuClassFrom(x86('sse4_1 avx2 avx512f'), 'x64').name, 'x86-avx512');
  t.is(cpuClassFrom(x86('sse4_1 avx2'), 'x64').name, 'x86-avx2');
  t.is(cpuClassFrom(x86('sse4_1 sse4_2'), 'x64').name, 'x86-sse4');
  const c = cpuClassFrom(x86('sse4_1 avx2 avx512f avx512_vnni'), 'x64');
  t.deepEqual(c.flags, ['sse4_1', 'avx2', 'avx512f', 'avx512_vnni']);
  t.is(c.model, 'AMD EPYC');
});

test('arm64: dot product or not (Pi 5 against Pi 4), the model from CPU part when there is no name', (t) => {
  const a72 = 'processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU part\t: 0xd08\n';
  const a76 = 'processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU part\t: 0xd0b\n';
  t.deepEqual(cpuClassFrom(a72, 'arm64'), { arch: 'arm64', model: 'CPU part 0xd08', flags: ['asimd'], name: 'arm64' });
  t.is(cpuClassFrom(a76, 'arm64').name, 'arm64-dotprod');
});

test('no cpuinfo: the architecture alone', (t) => {
  t.is(cpuClassFrom('', 'x64').name, 'x86');
  t.is(cpuClassFrom('', 'riscv64').name, 'riscv64');
});
