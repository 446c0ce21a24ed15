// Small readers the CFI tests share.
import * as fs from 'node:fs';
import { readLoadSegments, type ElfSegment } from '../../src/modules/profile/elf';

export function readSegmentsForTest(file: string): ElfSegment[] {
  const fd = fs.openSync(file, 'r');
  try {
    return readLoadSegments(fd, file);
  } finally {
    fs.closeSync(fd);
  }
}
