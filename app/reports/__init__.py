"""Monthly reports: a month's figures frozen once (monthly), compared with the previous frozen
month (change), and written as a workbook (workbook)."""
