-- GET /api/admin/partners/{id}. KEYS: partner record. ARGV: tenant key prefix, suffix
-- -> {id, name, createdAt, updatedAt, tenant id, ...} or false (no such partner).
-- uses: partner
return partner_view(KEYS[1], ARGV[1], ARGV[2])
