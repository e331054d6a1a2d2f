/** Runs `lp-node <subcommand>`; returns the exit status. */
export async function runSubcommand(name: string, _argv: string[]): Promise<number> {
  process.stderr.write(`lp-node ${name}: not supported yet\n`);
  return 2;
}
