"""Local fakes of outside vendors, speaking their documented wire formats (DESIGN.md section 7)."""
