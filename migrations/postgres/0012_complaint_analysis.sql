-- The text's analysis for the monthly frequent-problem count, made when the complaint is
-- received (problems::analyse) and stored sealed, so a month is counted without masking and
-- tokenising every complaint again. NULL for complaints stored before: the report makes
-- their analysis from the text.
ALTER TABLE complaints ADD COLUMN analysis TEXT;
