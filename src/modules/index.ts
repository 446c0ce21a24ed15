// Every tool module the agent knows, in pmdabcc's cluster order. Each module file exports one
// ModuleSpec (or several, for fsdist). Helpers append their import and entry here.
import type { ModuleSpec } from '../pmda/module';
import { biolatency } from './biolatency';
import { biotop } from './biotop';
import { execsnoop } from './execsnoop';
import { ext4dist, xfsdist, zfsdist } from './fsdist';
import { runqlat } from './runqlat';
import { tcplife } from './tcplife';
import { tcpretrans } from './tcpretrans';
import { tcptop } from './tcptop';
import { profile } from './profile';
import { sysfork } from './sysfork';
import { netproc } from './netproc';
import { cachestat } from './cachestat';
import { klockstat } from './klockstat';
import { bioperpid } from './bioperpid';
import { tcpperpid } from './tcpperpid';

export const MODULES: ModuleSpec[] = [biolatency, tcplife, runqlat, ext4dist, xfsdist, zfsdist, execsnoop, tcpretrans, biotop, tcptop, profile, sysfork, netproc, cachestat, klockstat, bioperpid, tcpperpid];
