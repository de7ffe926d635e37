// Loaded first by the command line: from here until the command replaces this process, SIGUSR1 has
// its default action (it ends the process, as it would end numactl before its exec) instead of
// starting Node's inspector. Before this line runs, during Node's own start-up, Node's handler is
// still there (docs/cli.md, "Signals").
import { constants } from 'node:os'
import { loaded } from '../binding'

loaded()?.signalDefault(constants.signals.SIGUSR1)
