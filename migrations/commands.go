package migrations

// Commands returns the command side's schema (migrations/commands): the idempotency records of the
// command API. Every deployment of the command API applies it, whichever event store it uses.
func Commands() Set {
	return newSet("commands", "goose_commands_version", 3715942694) // crc32 of the table name
}
