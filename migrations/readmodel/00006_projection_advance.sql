-- projection_advance moves a projection's checkpoint from where its owner read the batch to the batch's
-- last event, and fails if the checkpoint is no longer where the owner read it, or no longer of the
-- generation the owner started from: another process took the projection over and moved it, or
-- switched to a rebuilt copy of its tables. A batch's writes and its checkpoint go to the server in
-- one pipeline, with its BEGIN and COMMIT: an error is what stops that pipeline and rolls the batch
-- back, where an UPDATE that matched no row would let it commit. The batch calls it first, so that
-- two owners of the same batch queue on the checkpoint's row, not on each other's rows. The SQLSTATE
-- is the projector's own (see projections.fencedCode).

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION projection_advance(p_name text, p_generation int, p_from text, p_to text, p_commit_pos bigint,
    p_prepare_pos bigint, p_last_event_at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE projection_checkpoints
    SET position = p_to, commit_pos = p_commit_pos, prepare_pos = p_prepare_pos,
        last_event_at = p_last_event_at, updated_at = now()
    WHERE name = p_name AND generation = p_generation AND position = p_from;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the checkpoint of projection % is no longer at % in generation %', p_name, p_from, p_generation
            USING ERRCODE = 'PJ001';
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION projection_advance(text, int, text, text, bigint, bigint, timestamptz);
