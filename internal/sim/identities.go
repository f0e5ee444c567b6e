package sim

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
)

// writeIdentities writes the organisation's identity directory (the format of
// internal/enrich/identity): each user's primary name, the other names systems
// give them, department, role, manager, office and whether the account is
// privileged (admins).
func writeIdentities(path string, org *Org) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	rows := [][]string{{"user", "aliases", "email", "department", "role", "manager", "office", "privileged"}}
	for _, u := range org.Users {
		mgr := ""
		if u.Manager >= 0 && u.Manager < len(org.Users) {
			mgr = org.Users[u.Manager].Name + "@" + Domain
		}
		rows = append(rows, []string{
			u.Name + "@" + Domain, NetBIOSDomain + `\` + u.Name + ";" + u.Name, u.Name + "@" + Domain,
			u.Department, u.Role, mgr, u.Office.Name, strconv.FormatBool(u.Role == "admin"),
		})
	}
	if err := w.WriteAll(rows); err != nil {
		return fmt.Errorf("writing identities: %w", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("writing identities: %w", err)
	}
	return nil
}
